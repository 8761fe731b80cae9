"""The convenience-store kiosk and certificate center: card-based certificate applications
(F18, F19) that keep nothing (R50)."""
