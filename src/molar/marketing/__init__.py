"""Marketing that measures itself: the lead funnel, channel attribution and the plan follow-up worklist."""
