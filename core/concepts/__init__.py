"""Concept discovery, DISC-style with CLIP (ALGORITHMS.md section 1).

Concepts are words (text embeddings averaged over a prompt ensemble) or exemplar folders (CAVs);
their scores on the images are standardised and streamed (``scoring``); a reference probe
(``probe``) and per-class environments (``environments``) feed three signals per (class,
concept) (``signals``), ranked together (``discovery``). ``project`` runs it on a project.
"""
