"""The asset manager: validates files under the assets dir and publishes them to Valkey."""
