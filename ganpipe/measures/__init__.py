"""Every measure, defined once: the pixel and weight measures, the feature classifier behind FID and
its kin, scoring a set against a real reference, and each measure proven on its controls."""
