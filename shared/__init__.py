"""The common library of the one-stop service backend: contracts, adapters and pure rules every service uses."""
