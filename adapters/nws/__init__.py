"""The information-provision network's adapter (情報提供ネットワークシステム): the
permitted-inquiry list, provision permits, and carrying sealed traffic between
municipalities."""
