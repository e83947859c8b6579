"""Channel adapters: verify, normalise and store what arrives from Twilio and the web chat."""
