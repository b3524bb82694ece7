"""The pure side of Twilio webhooks: parsing requests and checking signatures."""
