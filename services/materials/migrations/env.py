from shared.migrations import run_env, service_metadata

# Only this service's tables and the common ones: other services' models may be imported in the same process.
run_env(service_metadata("materials"), "materials")
