"""Developer tools that never run in Azure (excluded by .funcignore)."""
