"""One router per area: prompts, videos, generations, health."""
