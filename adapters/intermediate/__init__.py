"""The intermediate server's adapter (中間サーバー): 符号 management, the 副本 store,
inbound provisions and 情報提供等記録."""
