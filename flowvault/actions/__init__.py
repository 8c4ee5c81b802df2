"""One module per command, named after it: each wires config → client → stages → archive and
history, and reports. No protocol or git details here; errors are raised, never printed."""
