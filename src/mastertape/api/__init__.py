"""mastertape.api"""
