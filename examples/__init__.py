"""Clients outside the services: a department back office (also the dev stack's simulated departments)."""
