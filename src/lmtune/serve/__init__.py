"""`lmtune serve`: a finished run behind a REST API (FastAPI + uvicorn; installed with lmtune[serve])."""
