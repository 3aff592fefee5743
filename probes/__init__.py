"""Stimuli with ground truth and behavioural probes. Knows nothing about hooks or storage."""
