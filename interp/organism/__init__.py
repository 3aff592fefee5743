"""The model organism: a small open_clip CLIP trained here on a corpus with planted causes (floor 2)."""
from .corpus import CONTROL, PLANTED, Corpus, CorpusSpec, vocabulary
from .train import TrainConfig, train

__all__ = ["Corpus", "CorpusSpec", "PLANTED", "CONTROL", "vocabulary", "TrainConfig", "train"]
