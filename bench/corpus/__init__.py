"""The listening corpus: sampled-guitar takes with truth, and how they are judged
(docs/CORPUS.md)."""
