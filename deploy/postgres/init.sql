-- One database per service: a service owns its tables and no service reads another's.
CREATE DATABASE registration;
CREATE DATABASE deregistration;
CREATE DATABASE utilities;
CREATE DATABASE realestate;
CREATE DATABASE materials;
