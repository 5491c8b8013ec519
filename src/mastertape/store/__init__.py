"""mastertape.store"""
