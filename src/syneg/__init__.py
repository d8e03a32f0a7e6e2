"""SyNeg: LLM-written hard negatives, mixed with mined ones, for dense-retriever fine-tuning."""

__version__ = "0.1.0"
