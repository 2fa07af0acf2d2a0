"""One module per target of the suite, each with one ``run(ctx, backend)`` that returns its figures."""
