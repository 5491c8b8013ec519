"""mastertape.dsp"""
