"""What a user writes by hand, for the benchmarks to compare against: a plain transformers
Trainer script (the tutorial's recipe), SetFit, and the two cheapest probes (logistic regression
on the frozen backbone's mean-pooled embeddings, and on TF-IDF), on the same backbone and labels
as the lmtune rows."""
from __future__ import annotations

import time

MAX_LENGTH = 256


def plain_trainer(train, test, labels: list[str], *, output_dir: str, seed: int, backbone: str = "default",
                  **training_args) -> dict:
    """Trainer with default arguments unless given (batch 16, padding to max_length as in the
    transformers tutorial). `train`/`test`: lmtune TextExamples."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments
    from transformers.trainer_callback import PrinterCallback

    from lmtune.models import resolve_backbone

    source = resolve_backbone(backbone)
    label2id = {lb: i for i, lb in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(source)

    def encode(examples):
        enc = tokenizer([e.text for e in examples], padding="max_length", truncation=True, max_length=MAX_LENGTH)
        return [{**{k: enc[k][i] for k in enc.keys()}, "labels": label2id[e.label]} for i, e in enumerate(examples)]

    model = AutoModelForSequenceClassification.from_pretrained(source, num_labels=len(labels))
    args = TrainingArguments(output_dir=output_dir, **{"per_device_train_batch_size": 16, **training_args},
                             use_cpu=not torch.cuda.is_available(), report_to=[], seed=seed, disable_tqdm=True,
                             save_strategy="no")
    trainer = Trainer(model=model, args=args, train_dataset=encode(train))
    trainer.remove_callback(PrinterCallback)  # keeps the tables readable; costs nothing either way
    started = time.perf_counter()
    out = trainer.train()
    train_s = time.perf_counter() - started
    pred = trainer.predict(encode(test))
    accuracy = float((np.asarray(pred.predictions).argmax(-1) == pred.label_ids).mean())
    return {"accuracy": accuracy, "train_s": train_s, "samples_per_s": out.metrics["train_samples_per_second"],
            "samples": round(len(train) * args.num_train_epochs)}


def setfit(train, test, labels: list[str], *, output_dir: str, seed: int, num_iterations: int = 20,
           epochs: int = 1, backbone: str = "default") -> dict:
    """SetFit with its documented defaults (batch 16, 20 pair iterations, 1 epoch, logistic head)."""
    import numpy as np
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    from lmtune.models import resolve_backbone

    model = SetFitModel.from_pretrained(resolve_backbone(backbone))
    model.model_body.max_seq_length = MAX_LENGTH  # SetFit otherwise keeps the body's own limit silently
    data = Dataset.from_dict({"text": [e.text for e in train], "label": [labels.index(e.label) for e in train]})
    args = TrainingArguments(output_dir=output_dir, batch_size=16, num_iterations=num_iterations, num_epochs=epochs, seed=seed,
                             show_progress_bar=False, report_to="none")
    trainer = Trainer(model=model, args=args, train_dataset=data)
    started = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - started
    preds = np.asarray(model.predict([e.text for e in test], batch_size=64))
    accuracy = float((preds == np.array([labels.index(e.label) for e in test])).mean())
    return {"accuracy": accuracy, "train_s": train_s}


def embedding_probe(train, test, labels: list[str], *, backbone: str = "default", **_) -> dict:
    """Logistic regression on the frozen backbone's mean-pooled, normalised embeddings."""
    from sklearn.linear_model import LogisticRegression

    from lmtune.evaluation.predict import embed_texts
    from lmtune.loading import load_encoder

    encoder, tokenizer, max_length = load_encoder(backbone, MAX_LENGTH)
    started = time.perf_counter()
    x_train, x_test = (embed_texts(encoder, tokenizer, [e.text for e in split], max_length=max_length, progress=False)
                       for split in (train, test))
    return _probe(LogisticRegression(max_iter=2000), x_train, x_test, train, test, labels, started)


def tfidf_probe(train, test, labels: list[str], **_) -> dict:
    """Logistic regression on the words' TF-IDF (word 1-2 grams), fitted on the labeled texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit([e.text for e in train])
    return _probe(LogisticRegression(max_iter=2000), words.transform([e.text for e in train]),
                  words.transform([e.text for e in test]), train, test, labels, started)


def _probe(classifier, x_train, x_test, train, test, labels, started) -> dict:
    import numpy as np

    classifier.fit(x_train, [labels.index(e.label) for e in train])
    accuracy = float((classifier.predict(x_test) == np.array([labels.index(e.label) for e in test])).mean())
    return {"accuracy": accuracy, "train_s": time.perf_counter() - started}
