"""Domain types shared by every layer: snapshot (what was collected), check (spec and outcome), finding."""
