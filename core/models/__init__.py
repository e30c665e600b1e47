"""Model registry over open_clip (contracts.md, "debias_studio.core.models").

Names: ``demo`` (bundled demo CLIP), ``ARCH/TAG`` (open_clip pretrained), ``ARCH@/path/file``
(local weights), ``local-dir:/folder`` (open_clip folder), ``hf-hub:org/repo``.
"""
