from shared.migrations import run_env, service_metadata

run_env(service_metadata("kitdemo"), "kitdemo")
