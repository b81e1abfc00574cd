"""One function per flow step, over frozen, typed artifacts (``train`` for TrainFlow)."""
