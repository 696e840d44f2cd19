using System.Net;
using System.Net.Sockets;
using Engine.Api.V1;
using Grpc.Core;

namespace Engine.ProcessTests;

/// <summary>
/// Webhook targets (docs/alerts.md, "Webhook targets"): by default a webhook may not point at a loopback, private or
/// link-local address, neither when it is created nor, after DNS resolution, when it is delivered to.
/// </summary>
[Trait("Category", "Process")]
public sealed class WebhookTargetTests
{
    private static Dictionary<string, string?> Settings(bool allowPrivate) => new()
    {
        ["Engine:Webhooks:AllowPrivateTargets"] = allowPrivate ? "true" : "false",
        ["Engine:WebhookRetryDelay"] = "00:00:00.050",
        ["Engine:WebhookMaxAttempts"] = "2",
        ["Engine:DriftCheckInterval"] = "01:00:00",
    };

    [Fact]
    public async Task Webhooks_to_loopback_private_and_link_local_addresses_are_refused_by_default_and_nothing_is_sent()
    {
        await using var server = await new EngineServer(settings: Settings(allowPrivate: false)).StartAsync();
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var v6 = new TcpListener(IPAddress.IPv6Loopback, 0);
        v6.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var port6 = ((IPEndPoint)v6.LocalEndpoint).Port;
            var alerts = new AlertService.AlertServiceClient(server.Channel);
            string[] urls =
            [
                $"http://127.0.0.1:{port}/hook", "http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data/",
                $"http://[::1]:{port6}/hook", $"http://localhost:{port}/hook", "http://100.64.0.1/", "http://0.0.0.0/",
                "http://[fe80::1]/", "http://192.168.1.1/", "http://224.0.0.1/", "http://[::ffff:127.0.0.1]/",
            ];
            foreach (var url in urls)
            {
                var refused = await Assert.ThrowsAsync<RpcException>(() => alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = url }).ResponseAsync);
                Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
                Assert.StartsWith("url: ", refused.Status.Detail);
                Assert.Contains("AllowPrivateTargets", refused.Status.Detail);
            }

            // Over REST too: 400 naming the field.
            using var http = new HttpClient { BaseAddress = new Uri(server.HttpAddress) };
            using var response = await http.PostAsync("/v1/webhooks",
                new StringContent($$"""{"url":"http://127.0.0.1:{{port}}/hook"}""", System.Text.Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Contains("url: ", await response.Content.ReadAsStringAsync());

            Assert.Empty((await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks);
            await Task.Delay(500);
            Assert.False(listener.Pending(), "a refused webhook target was connected to");
            Assert.False(v6.Pending(), "a refused webhook target was connected to");
        }
        finally
        {
            listener.Stop();
            v6.Stop();
        }
    }

    [Fact]
    public async Task A_webhook_whose_host_resolves_to_loopback_at_delivery_is_not_connected_to_and_its_alerts_are_refused()
    {
        // Created while private targets were allowed (so the creation check let "localhost" through), delivered after
        // a restart that refuses them: the delivery-time check, after DNS resolution, is what stops it.
        var config = new EngineServer(settings: Settings(allowPrivate: true));
        await using var server = await config.StartAsync();
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            await Population.SegmentedAsync(server, customers: 30, seed: 45);
            var alerts = new AlertService.AlertServiceClient(server.Channel);
            // The listener never answers, so nothing this run sends is taken; the server stops soon after.
            await alerts.CreateWebhookAsync(new CreateWebhookRequest { Url = $"http://localhost:{port}/hook", FromStart = true });
            await server.StopAsync();
            while (listener.Pending())
            {
                // A connection from the permissive run (before the restart) is not what this test checks.
                listener.AcceptTcpClient().Dispose();
            }

            config.Settings["Engine:Webhooks:AllowPrivateTargets"] = "false";
            await config.StartAsync();
            alerts = new AlertService.AlertServiceClient(config.Channel);
            var letters = await Poll.UntilAsync(async () => (await alerts.ListDeadLettersAsync(new ListDeadLettersRequest())).DeadLetters, l => l.Count > 0);
            Assert.Contains("resolves to no allowed address", letters[0].LastError);
            Assert.False(listener.Pending(), "the delivery connected to a refused address");
            Assert.Contains("no allowed address", Assert.Single((await alerts.ListWebhooksAsync(new ListWebhooksRequest())).Webhooks).LastError);
        }
        finally
        {
            listener.Stop();
        }
    }

}
