"""Test stand-ins: real local servers and fake clients driven through the real code paths."""
