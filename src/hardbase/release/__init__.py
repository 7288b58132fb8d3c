"""Where a built image becomes a published one: SBOMs, signature and attestations, gates, publish.

`hardbase build --sign-key` and the lifecycle controller both go through this
package, so the same lock gives the same attestations whichever path built it.
"""
