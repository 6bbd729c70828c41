"""Losses, one a module, with the maths in :mod:`cmkd_med.losses.functional`.

* :class:`~cmkd_med.losses.info_nce.InfoNCELoss` — symmetric InfoNCE alignment (CLIP);
* :class:`~cmkd_med.losses.quantum_fidelity.QuantumFidelityLoss` — 1 − fidelity of 4-qubit data-re-uploading
  encodings of teacher and student embeddings.
"""
