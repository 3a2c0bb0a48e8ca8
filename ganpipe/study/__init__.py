"""The note's claims and how each is judged: the runs a claim needs (conditions), what it reads from
them (evidence), the trained rule, judging and verdicts, and the toys and exact divergences."""
