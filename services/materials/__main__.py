from shared.service import run_service

run_service("materials")
