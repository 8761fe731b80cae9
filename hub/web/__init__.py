"""The approval desk's HTTP API and approver pages (FastAPI, served by uvicorn)."""
