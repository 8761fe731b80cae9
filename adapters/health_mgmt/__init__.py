"""The health-management system's adapter: 予診票 results in, targets and inquiries out."""
