"""Twilio webhooks: SMS and WhatsApp in, delivery status callbacks."""
