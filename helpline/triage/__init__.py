"""Safety triage: the risk lexicon, flow files and the engine that runs them."""
