"""`hardbase serve`: the fleet service (JSON API, dashboard, Prometheus metrics) over the
controller's state database, with the controller loop running in the same process."""
