"""Sentiment of consult messages and reviews: satisfied, doubt, complaint or neutral.

See docs/sentiment.md for the corpus, the model and how well it does.
"""

from molar.profile.sentiment.evaluate import evaluate_on_truth
from molar.profile.sentiment.model import (
    CORPUS_DIR,
    FORMAT_VERSION,
    SENTIMENTS,
    ModelConfig,
    ModelFormatError,
    SentimentModel,
    cross_validate,
    default_model,
    load_corpus,
    normalise,
    train,
)
from molar.profile.sentiment.score import score_texts

__all__ = [
    "CORPUS_DIR",
    "FORMAT_VERSION",
    "SENTIMENTS",
    "ModelConfig",
    "ModelFormatError",
    "SentimentModel",
    "cross_validate",
    "default_model",
    "evaluate_on_truth",
    "load_corpus",
    "normalise",
    "score_texts",
    "train",
]

