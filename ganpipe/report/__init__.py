"""The report: markdown tables and number format, figures, and the page that puts the models, each
claim's section and the provenance together."""
