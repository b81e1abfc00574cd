"""The modeling stage: pretrained sources, tokenization with a long-note strategy, the
fine-tuning loop, inference, the TF-IDF baseline, model packages and the predictor."""
