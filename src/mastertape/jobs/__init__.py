"""mastertape.jobs"""
