"""The baseline a user writes: a minimal FastAPI app calling transformers.pipeline per request.
Run by benchmarks/serve_load.py as: MODEL_DIR=... uvicorn _plain_serving_app:app"""
import os

from fastapi import FastAPI
from pydantic import BaseModel
from transformers import pipeline

pipe = pipeline("text-classification", model=os.environ["MODEL_DIR"], device=-1)
app = FastAPI()


class Body(BaseModel):
    texts: list[str]


@app.post("/v1/predict")
def predict(body: Body):
    return {"predictions": pipe(body.texts, truncation=True, max_length=256)}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
