"""Using a trained model: sampling text, scoring a split (loss, bits/char, top-k),
inspecting a text character by character, and decoding in a child process.

Imports the top of core/, text/ and models/.
"""
