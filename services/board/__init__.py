"""Board indicators: live aggregates, disclosure control, snapshots, metrics and the board pack."""
