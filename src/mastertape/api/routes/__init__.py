"""mastertape.api.routes"""
