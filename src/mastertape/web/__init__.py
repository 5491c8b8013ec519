"""mastertape.web"""
