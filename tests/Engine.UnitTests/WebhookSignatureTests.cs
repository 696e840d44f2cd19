namespace Engine.UnitTests;

/// <summary>Standard Webhooks signatures against the specification's own example.</summary>
public class WebhookSignatureTests
{
    [Fact]
    public void The_specifications_example_signs_to_its_published_signature()
    {
        var key = WebhookSignature.Key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!;
        Assert.Equal("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            WebhookSignature.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{\"test\": 2432232314}"));
        // One byte changed anywhere is another signature.
        Assert.NotEqual("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            WebhookSignature.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265331, "{\"test\": 2432232314}"));
        Assert.NotEqual("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            WebhookSignature.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, "{\"test\": 2432232315}"));
    }

    [Fact]
    public void A_new_secret_is_whsec_and_24_bytes_and_an_old_secret_signs_with_its_own_bytes()
    {
        var secret = WebhookSignature.NewSecret();
        Assert.StartsWith("whsec_", secret);
        Assert.Equal(24, WebhookSignature.Key(secret)!.Length);
        Assert.NotEqual(secret, WebhookSignature.NewSecret());
        Assert.Equal("s3cret"u8.ToArray(), WebhookSignature.Key("s3cret"));
        Assert.Null(WebhookSignature.Key("whsec_not base64!"));
    }
}
