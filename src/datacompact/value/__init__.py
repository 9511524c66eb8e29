"""Value: what uses of data are worth, who is paid for them, and how the market rates them."""
