"""Cooperation projects (issue 7): lots, tenders, sealed bids, evaluation, contracts, OCDS."""
